// Preloaded with `node -r` by tests that bound a child's memory: at exit, write the process's peak
// resident set size (KiB, from getrusage) to the file named by PEAK_RSS_FILE.
process.on('exit', () => {
  require('node:fs').writeFileSync(process.env.PEAK_RSS_FILE, String(process.resourceUsage().maxRSS));
});
