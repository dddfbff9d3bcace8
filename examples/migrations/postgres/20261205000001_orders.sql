-- The orders service's schema on PostgreSQL: users, stock per warehouse, orders and their
-- items.

CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL
);

-- The user directory: users 1 to 1000, every even id gold.
INSERT INTO users (id, name, tier)
SELECT id, 'user-' || id, CASE id % 2 WHEN 0 THEN 'gold' ELSE 'standard' END
FROM generate_series(1, 1000) AS id;

CREATE TABLE stock (
    warehouse TEXT PRIMARY KEY,
    units BIGINT NOT NULL CHECK (units >= 0)
);

INSERT INTO stock (warehouse, units) VALUES ('east', 1000000), ('west', 1000000);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    payment_method TEXT NOT NULL,
    warehouse TEXT NOT NULL REFERENCES stock (warehouse)
);

CREATE TABLE order_items (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    line BIGINT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    price DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (order_id, line)
);
