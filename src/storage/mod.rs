//! Files jutsu reads and owns: bar files, atomic and sealed writes, the state, the order journal, the trade log
//! the validation log and the run lock.
//!
//! Every write goes through [`fsutil`]: a temp file, fsync, rename, and a checksum seal that
//! tells jutsu's own writes from a hand edit.

pub mod bars;
pub mod fsutil;
pub mod ledger;
pub mod lock;
pub mod records;
pub mod state;
pub mod store;
pub mod trades;
pub mod validation;
