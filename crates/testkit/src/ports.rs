//! Free loopback ports for servers a test starts itself (Redis nodes, a private
//! PostgreSQL, chromedriver). They are picked below the kernel's ephemeral range
//! (32768 and up on Linux), because a port a test frees and binds again later (a
//! PostgreSQL stopped and restarted, a Redis node killed and brought back) must not be
//! taken in between as the source port of some other test's outgoing connection: CI saw
//! exactly that with a port from `bind(":0")`, which hands out ephemeral ports.

use std::net::TcpListener;

/// The lowest port handed out, and how many blocks of [`BLOCK`] ports follow it. A
/// block's cluster-bus ports (+10000) stay below the ephemeral range too: 10000..=29999.
const FIRST: u16 = 10_000;
const BLOCKS: u64 = 1_250;
const BLOCK: u16 = 8;
/// Where Redis puts a node's cluster-bus port.
const BUS_OFFSET: u16 = 10_000;

/// `n` (at most 8) consecutive free loopback ports, each free together with its
/// cluster-bus port (+10000), below the ephemeral range. The start is spread by process
/// id and a random seed so that test binaries running side by side rarely try the same
/// block; a taken block is skipped.
pub fn free_block(n: usize) -> Result<u16, String> {
    let n = u16::try_from(n)
        .ok()
        .filter(|n| *n <= BLOCK)
        .ok_or_else(|| format!("a block of {n} ports asked for; at most {BLOCK}"))?;
    let seed = u64::from(std::process::id()) ^ u64::from(uuid::Uuid::new_v4().as_u128() as u16);
    for attempt in 0..400_u64 {
        let block = ((seed + attempt * 7919) % BLOCKS) as u16;
        let base = FIRST + block * BLOCK;
        if (0..n).all(|i| free(base + i) && free(base + i + BUS_OFFSET)) {
            return Ok(base);
        }
    }
    Err(format!(
        "no free block of loopback ports in {FIRST}-{}",
        FIRST + BLOCKS as u16 * BLOCK - 1
    ))
}

/// One free loopback port below the ephemeral range.
pub fn free_port() -> Result<u16, String> {
    free_block(1)
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_their_bus_ports_are_below_the_ephemeral_range() {
        for _ in 0..50 {
            let base = free_block(8).expect("a block");
            assert!(base >= FIRST && base + 7 + BUS_OFFSET < 32_768, "{base}");
        }
    }

    #[test]
    fn a_block_larger_than_the_spacing_is_refused_not_overlapped() {
        assert!(free_block(9).is_err());
    }
}
