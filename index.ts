// Package entry: the library surface for users' own test suites: the ISA (assembler, disassembler,
// encoding), the simulator (config, run loop, stats, trace, and runProgram, the one call a user's test makes),
// the kernel programs, and the references. Assertions for tests are in the `intnpu/testing` subpath (testing.ts).
export * from './isa/asm.js';
export * from './isa/disasm.js';
export * from './isa/encoding.js';
export { ISA, BY_MNEMONIC, BY_OPCODE, UNITS, TIMING_CLASSES, type InstrDef } from './isa/table.js';
export { AsmError, formatDiagnostic, type Diagnostic } from './isa/diagnostics.js';
export * from './sim/config.js';
export { Machine, Fault } from './sim/machine.js';
export * from './sim/run.js';
export * from './sim/run-program.js';
export { STALL_CAUSES, type TraceEvent } from './sim/timing.js';
export { chromeTrace } from './sim/trace.js';
export { hotspots, formatStats } from './sim/report.js';
export * from './programs/index.js';
export * from './programs/models/layer.js';
export * from './programs/models/model.js';
export * from './kernels/index.js';
export * from './programs/schedule.js';
export * from './programs/linear/model.js';
export * from './programs/requant/model.js';
