//! Wire formats: Ethernet, ARP, IPv4, TCP with options, checksums, sequence numbers.
