//! The test suite's fault-injecting proxy as a program, for scripts (scripts/bench).
//!
//! ```text
//! fault-proxy --upstream http://127.0.0.1:5000 [--latency-ms 50] [--role-delay-secs 8] [--quotas]
//! ```
//!
//! Prints its URL on the first line of stdout, then serves until stdin closes. The calls it saw
//! are at `GET <url>/__proxy/calls` (`POST <url>/__proxy/clear` forgets them). With `--quotas`
//! it enforces API Gateway's account quotas, as AWS does, for every process that talks through
//! it; the calls it refused (429) are at `GET <url>/__proxy/throttled`.

#[path = "../tests/it/support/proxy/mod.rs"]
#[allow(dead_code)]
mod proxy;

use std::io::{Read, Write};
use std::time::Duration;

use proxy::{Fault, Proxy};

fn main() {
    let mut upstream = None;
    let mut latency_ms = 0u64;
    let mut role_delay = 0f64;
    let mut quotas = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--upstream" => upstream = Some(value()),
            "--latency-ms" => {
                latency_ms = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--latency-ms takes a number"))
            }
            "--role-delay-secs" => {
                role_delay = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--role-delay-secs takes a number"))
            }
            "--quotas" => quotas = true,
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let upstream = upstream.unwrap_or_else(|| usage("--upstream is required"));
    let p = Proxy::start(&upstream);
    p.set_latency(Duration::from_millis(latency_ms));
    if quotas {
        p.enforce_quotas(1.0);
    }
    if role_delay > 0.0 {
        p.fault_after(
            "iam:CreateRole",
            "lambda:CreateFunction",
            Fault::error(
                400,
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
            ),
            Duration::from_secs_f64(role_delay),
        );
    }
    println!("{}", p.url);
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

fn usage(msg: &str) -> ! {
    eprintln!("fault-proxy: {msg}\nusage: fault-proxy --upstream URL [--latency-ms N] [--role-delay-secs S] [--quotas]");
    std::process::exit(2)
}
