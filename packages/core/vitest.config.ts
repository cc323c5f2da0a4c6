import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Each suite makes its own databases, so files can run side by side.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
