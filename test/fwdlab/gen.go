package fwdlab

// The BPF object is committed; `make generate` (clang, llvm, libbpf-dev) rebuilds it.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel standin bpf/standin.c
