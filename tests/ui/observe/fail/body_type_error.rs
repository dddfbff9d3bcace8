#[obs_runtime::observe]
fn total(prices: &[u32]) -> Result<u32, String> {
    let sum: u32 = prices.iter().sum();
    Ok(sum + "1")
}

fn main() {
    let _ = total(&[1, 2]);
}
