// Package entry: the library surface (ISA, simulator, references) for users' own test suites.
export {};
