/** Unit and integration tests run as ESM through ts-jest; tsc does the type-checking. */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  transform: {
    "^.+\\.ts$": ["ts-jest", { useESM: true }],
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  testTimeout: 30000,
  // Integration files each start their own nats-server; two workers fit a 2-core machine.
  maxWorkers: 2,
};
