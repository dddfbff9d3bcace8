use obs_runtime::{ErrorLabel, observe};

#[derive(Debug, ErrorLabel)]
pub enum ShopError {
    NotFound,
    Declined { code: u16 },
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shop error {self:?}")
    }
}

#[observe]
fn lookup(id: u32) -> Result<u32, ShopError> {
    if id == 0 {
        return Err(ShopError::NotFound);
    }
    if id > 100 {
        Err(ShopError::Declined { code: 402 })?;
    }
    Ok(id * 2)
}

#[observe(fields(id = id))]
async fn fetch(id: u32) -> Result<u32, std::io::Error> {
    tokio::task::yield_now().await;
    if id == 0 {
        Err(std::io::Error::other("nope"))
    } else {
        Ok(id)
    }
}

#[test]
fn smoke() {
    assert_eq!(lookup(2).ok(), Some(4));
    assert!(lookup(0).is_err());
    assert!(lookup(200).is_err());
    let site = obs_runtime::observed_function(module_path!(), "lookup").expect("site");
    assert_eq!(site.calls("ok"), 1);
    assert_eq!(site.errors("NotFound"), 1);
    assert_eq!(site.errors("Declined"), 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(fetch(1).await.is_ok());
        assert!(fetch(0).await.is_err());
    });
    let site = obs_runtime::observed_function(module_path!(), "fetch").expect("site");
    assert_eq!(site.calls("ok"), 1);
    assert_eq!(site.errors("Error"), 1);
    println!(
        "{}",
        obs_runtime::Registry::global().encode(obs_runtime::Format::Prometheus)
    );
}
