// Preloaded (`node --import`) into every process the benchmark measures: at exit it writes the process's own
// CPU time and peak RSS (process.resourceUsage) to $BENCH_RUSAGE_FILE. Nothing in the connector knows about it.
import { writeFileSync } from 'node:fs';

const target = process.env.BENCH_RUSAGE_FILE;
if (target) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(
      target,
      JSON.stringify({ userCPUTime: usage.userCPUTime, systemCPUTime: usage.systemCPUTime, maxRSS: usage.maxRSS }),
    );
  });
}
