import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Tests create real PostgreSQL databases and spawn the built server over stdio.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
