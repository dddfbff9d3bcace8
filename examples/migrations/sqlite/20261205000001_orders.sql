-- The orders service's schema on SQLite: users, stock per warehouse, orders and their items.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL
);

-- The user directory: users 1 to 1000, every even id gold.
WITH RECURSIVE n (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < 1000)
INSERT INTO users (id, name, tier)
SELECT id, 'user-' || id, CASE id % 2 WHEN 0 THEN 'gold' ELSE 'standard' END FROM n;

CREATE TABLE stock (
    warehouse TEXT PRIMARY KEY,
    units INTEGER NOT NULL CHECK (units >= 0)
);

INSERT INTO stock (warehouse, units) VALUES ('east', 1000000), ('west', 1000000);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    total REAL NOT NULL,
    payment_method TEXT NOT NULL,
    warehouse TEXT NOT NULL REFERENCES stock (warehouse)
);

CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    line INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    price REAL NOT NULL,
    PRIMARY KEY (order_id, line)
);
