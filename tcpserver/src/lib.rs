//! tcpserver, tcpclient and the small ucspi tools, with the djbdns-style
//! DNS client and the address text of the IPv6 build.

pub mod addr;
pub mod client;
pub mod dns;
pub mod filters;
pub mod ident;
pub mod net;
pub mod pipes;
pub mod rblsmtpd;
pub mod server;
pub mod small;
