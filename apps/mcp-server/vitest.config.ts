import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Its teardown deletes the keychain entries of the temporary vault homes the suites made.
    globalSetup: ['../../packages/core/src/testing/keychain.ts'],
    // Tests create real PostgreSQL databases and spawn the built server over stdio.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
