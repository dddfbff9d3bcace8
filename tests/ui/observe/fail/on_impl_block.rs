struct Cart;

#[obs_runtime::observe]
impl Cart {
    fn total(&self) -> u32 {
        0
    }
}

fn main() {
    let _ = Cart.total();
}
