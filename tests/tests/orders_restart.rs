//! The orders service on a SQLite file: its orders and stock survive a restart (the store
//! closed and opened again on the same file, migrations not run twice), and a database
//! that cannot be opened stops it at startup with the reason.

use std::time::Duration;

use obs_examples::orders::store::StoreOptions;
use obs_examples::orders::{
    INVENTORY, Item, NewOrder, OrderError, PaymentMethod, Store, Warehouse, create_order,
    load_order,
};

fn order(quantity: u32) -> NewOrder {
    NewOrder {
        user_id: 5,
        items: vec![Item {
            sku: "K9".into(),
            quantity,
            price: 10.0,
        }],
        payment_method: PaymentMethod::Paypal,
        warehouse: Warehouse::West,
    }
}

#[test]
fn orders_in_a_file_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("obs-orders-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("orders.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let first = rt.block_on(async {
        let store = Store::connect(&StoreOptions::new(&url)).await.unwrap();
        let placed = create_order(&store, order(4)).await.unwrap();
        let declined = create_order(&store, order(600)).await;
        assert!(matches!(declined, Err(OrderError::PaymentDeclined { .. })));
        obs_examples::orders::store::raw(store.db()).close().await;
        placed
    });
    assert_eq!(first.id, 1);

    rt.block_on(async {
        let store = Store::connect(&StoreOptions::new(&url)).await.unwrap();
        // Read from the file: the order, and the stock it took (the gauge starts there).
        let again = load_order(&store, 1).await.unwrap();
        assert_eq!(
            (again.user_id, again.total, again.payment_method),
            (5, 40.0, PaymentMethod::Paypal)
        );
        assert!(matches!(
            load_order(&store, 2).await,
            Err(OrderError::NotFound(2))
        ));
        assert_eq!(INVENTORY.with(Warehouse::West).get(), 1_000_000 - 4);
        // Ids go on from the file's.
        assert_eq!(create_order(&store, order(1)).await.unwrap().id, 2);
        obs_examples::orders::store::raw(store.db()).close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_database_that_cannot_be_opened_stops_the_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let missing = "sqlite:///nonexistent-obs-dir/orders.db";
    let e = rt
        .block_on(Store::connect(&StoreOptions {
            acquire_timeout: Duration::from_secs(2),
            ..StoreOptions::new(missing)
        }))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot reach the database at sqlite:///nonexistent-obs-dir/orders.db: ")
            && e.ends_with("(is it running? set DATABASE_URL)"),
        "{e}"
    );
}
