// Runs cases on the reference runtime (@angriff36/manifest, installed by tools/reference).
// Protocol: one JSON object per line on stdin, one JSON answer per line on stdout.
//   {"ir": {...}, "source": "...", "context": {...}, "ops": [...]}
//     ->  {"ok": true, "hash": irHash, "compiled": {ir, diagnostics}, "results": [...]}
// Each result is {"value": json} or {"raised": message}, plus "logged": the events the operation
// appended to the event log.
// A crash of the reference on one case is reported as {"ok": false, "error": "..."}; the process
// keeps serving the next line, so one process runs a whole fuzz run.
import readline from 'node:readline';
// The package lives in tools/reference/node_modules (installed by `npm ci` there).
// The reference logs diagnostics with console.*; stdout carries the protocol only.
// A note that it dropped a write for a blocking constraint (docs/differences.md #1) is counted:
// the fuzzer reports it with the operation as "dropped".
let droppedWrites = 0;
for (const name of ['log', 'info', 'warn', 'error', 'debug']) {
  console[name] = (...args) => {
    if (String(args[0]).includes('Blocking constraint validation failed')) droppedWrites += 1;
  };
}
const PKG = new URL('../reference/node_modules/@angriff36/manifest/dist/manifest/', import.meta.url);
const { RuntimeEngine } = await import(new URL('runtime-engine.js', PKG));
const { computeIRHash, compileToIR } = await import(new URL('ir-compiler.js', PKG));

// What a JSON client sees (JSON.stringify: NaN and Infinity become null, undefined keys go).
const clean = (value) => (value === undefined ? null : JSON.parse(JSON.stringify(value)));

function engineFor(ir, context, clock) {
  let ids = 0;
  return new RuntimeEngine(ir, context, {
    now: () => clock.t,
    generateId: () => `gen-${++ids}`,
    requireValidProvenance: false,
  });
}

async function runOp(engine, op, state, clock) {
  clock.t += 1;
  switch (op.op) {
    case 'create':
      return await engine.createInstance(op.entity, op.data);
    case 'run': {
      const options = {};
      if (op.entity !== undefined) options.entityName = op.entity;
      if (op.instance !== undefined) options.instanceId = op.instance;
      if (op.corr !== undefined) options.correlationId = op.corr;
      if (op.cause !== undefined) options.causationId = op.cause;
      if (op.overrides !== undefined) options.overrideRequests = op.overrides;
      return await engine.runCommand(op.command, op.input, options);
    }
    case 'get':
      return await engine.getInstance(op.entity, op.id);
    case 'all':
      return await engine.getAllInstances(op.entity);
    case 'computed':
      return await engine.evaluateComputed(op.entity, op.id, op.prop);
    case 'check':
      return await engine.checkConstraints(op.entity, op.data);
    case 'log':
      return engine.getEventLog();
    case 'context':
      engine.setContext(op.patch);
      return engine.getContext();
    case 'serialize':
      state.snapshot = await engine.serialize();
      return state.snapshot.stores;
    case 'restore':
      if (state.snapshot) await engine.restore({ stores: state.snapshot.stores });
      return null;
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

// Rows per entity after each operation: a write that should not have happened shows at once.
async function rowCounts(engine) {
  const { stores } = await engine.serialize();
  const counts = {};
  for (const [name, rows] of Object.entries(stores)) counts[name] = rows.length;
  return counts;
}

async function runCase(req) {
  let compiled = null;
  if (typeof req.source === 'string') {
    // The reference's own compile of the model, compared with ours (IR and diagnostics).
    const r = await compileToIR(req.source, { useCache: false });
    compiled = clean({ ir: r.ir, diagnostics: r.diagnostics.filter((d) => d.severity !== 'info') });
  }
  const clock = { t: 1000 };
  const engine = engineFor(req.ir, req.context || {}, clock);
  const hash = await computeIRHash(req.ir);
  const results = [];
  const state = {};
  for (const op of req.ops) {
    const before = engine.getEventLog().length;
    droppedWrites = 0;
    let answer;
    try {
      answer = { value: clean(await runOp(engine, op, state, clock)) };
    } catch (err) {
      answer = { raised: String(err && err.message || err) };
    }
    answer.logged = clean(engine.getEventLog().slice(before));
    answer.rows = await rowCounts(engine);
    if (droppedWrites) answer.dropped = droppedWrites;
    results.push(answer);
  }
  return { ok: true, hash, compiled, results };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await runCase(JSON.parse(line));
  } catch (err) {
    answer = { ok: false, error: String(err && err.stack || err) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
