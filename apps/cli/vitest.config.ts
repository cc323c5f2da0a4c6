import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Tests spawn the real CLI; the embedded vault takes about a second to open per process.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
