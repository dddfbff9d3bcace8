//! `&ObservedPool` and `&mut ObservedTransaction` as sqlx executors: each operation is a
//! [`Call`] around what sqlx's own pool and connection executors do.

use std::fmt;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt as _;
use sqlx::Describe;
use sqlx::{Database, Either, Execute, Executor, SqlStr, Transaction};

use super::query::{observe, observe_future, observe_stream};
use super::{ObservedPool, acquire};

impl<'p, DB: Database> Executor<'p> for &'p ObservedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (pool, gauges) = (self.pool.clone(), std::sync::Arc::clone(&self.gauges));
        observe_stream(&self.settings, query, move |query| {
            Box::pin(async_stream::try_stream! {
                let mut conn = acquire(&pool, &gauges).await?;
                let mut rows = (&mut *conn).fetch_many(query);
                while let Some(row) = rows.try_next().await? {
                    yield row;
                }
            })
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (pool, gauges) = (self.pool.clone(), std::sync::Arc::clone(&self.gauges));
        observe_future(&self.settings, query, move |query| {
            Box::pin(async move {
                let mut conn = acquire(&pool, &gauges).await?;
                (&mut *conn).fetch_optional(query).await
            })
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).describe(sql)
    }
}

/// A transaction of an [`ObservedPool`]: `&mut` it is a sqlx executor whose operations are
/// observed like the pool's; `BEGIN`, `COMMIT` and `ROLLBACK` are operations too. Dropped
/// without [`commit`](Self::commit), it rolls back (as sqlx's does).
pub struct ObservedTransaction<'c, DB: Database> {
    tx: Transaction<'c, DB>,
    settings: std::sync::Arc<super::Settings>,
}

impl<DB: Database> fmt::Debug for ObservedTransaction<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedTransaction")
            .field("system", &self.settings.system)
            .finish_non_exhaustive()
    }
}

impl<DB: Database> ObservedPool<DB> {
    /// Starts a transaction on a connection of the pool (its wait measured), as a `BEGIN`
    /// operation.
    ///
    /// # Errors
    ///
    /// sqlx's: no connection within the pool's acquire timeout, or `BEGIN` failed.
    pub async fn begin(&self) -> Result<ObservedTransaction<'static, DB>, sqlx::Error> {
        let tx = observe(&self.settings, "BEGIN", async {
            let conn = acquire(&self.pool, &self.gauges).await?;
            // What sqlx's own `Pool::begin` does with the connection it acquired.
            Transaction::begin(conn, None).await
        })
        .await?;
        Ok(ObservedTransaction {
            tx,
            settings: std::sync::Arc::clone(&self.settings),
        })
    }
}

impl<DB: Database> ObservedTransaction<'_, DB> {
    /// Commits, as a `COMMIT` operation.
    ///
    /// # Errors
    ///
    /// sqlx's, when the commit failed (the transaction is then rolled back).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        observe(&self.settings, "COMMIT", self.tx.commit()).await
    }

    /// Rolls back, as a `ROLLBACK` operation.
    ///
    /// # Errors
    ///
    /// sqlx's, when the rollback failed.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        observe(&self.settings, "ROLLBACK", self.tx.rollback()).await
    }
}

impl<'t, DB: Database> Executor<'t> for &'t mut ObservedTransaction<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let conn: &'t mut DB::Connection = &mut self.tx;
        observe_stream(&self.settings, query, |query| conn.fetch_many(query))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let conn: &'t mut DB::Connection = &mut self.tx;
        observe_future(&self.settings, query, |query| conn.fetch_optional(query))
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        't: 'e,
    {
        let conn: &'t mut DB::Connection = &mut self.tx;
        conn.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
    where
        't: 'e,
    {
        let conn: &'t mut DB::Connection = &mut self.tx;
        conn.describe(sql)
    }
}
