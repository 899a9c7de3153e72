//! The cluster primary's side of connections: listening sockets made as Node makes them
//! (`listen`), the messages exchanged with workers about them (`wire`), and the round-robin
//! scheduler that deals connections to workers from the reactor thread (`scheduler`).
pub mod listen;
pub mod scheduler;
pub mod wire;
