// Preloaded into a benchmarked CLI process (node --import): reports its peak RSS on exit, on fd 2,
// as one JSON line the benchmark picks out.
process.on('exit', () => {
  process.stderr.write(`\n{"benchPeakRssBytes":${process.resourceUsage().maxRSS * 1024}}\n`);
});
