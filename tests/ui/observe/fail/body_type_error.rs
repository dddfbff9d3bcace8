#[obs_runtime::observe]
fn total(prices: &[u32]) -> Result<u32, String> {
    let sum: u32 = prices.iter().sum();
    let extra: u32 = "1";
    Ok(sum + extra)
}

fn main() {
    let _ = total(&[1, 2]);
}
