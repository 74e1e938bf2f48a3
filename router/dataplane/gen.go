package dataplane

// The BPF objects are committed; `make generate` (clang, llvm, libbpf-dev) rebuilds them.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel -type route -type lpm_key -type tunnel -type counter_val -type config -type nexthop gsi bpf/dataplane.c
