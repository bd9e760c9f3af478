using Rx.Netstack.Cli;

// rx-netstack: the demo (default), the TUN server, the benchmarks and the kernel-socket HTTP twin. The command line is in
// RxNetstackCli (System.CommandLine); each command lives in its own file, its options in *Options.cs.
return await new RxNetstackCli().InvokeAsync(args);
