use obs_runtime::Label;

#[derive(Label)]
enum Status<T> {
    Paid,
    Other(core::marker::PhantomData<T>),
}

fn main() {}
