// Recovery drills: prove that backups boot, with a report. The API the command and the console use.
export { checksFromText, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_SECONDS, drillPlanSchema, readDrillPlan, resolveDrillSpec, type DrillArgs, type DrillPlanFile, type DrillSpec, type DrillVmSpec } from './plan.ts';
export { drillVmName, prepareDrill, type PreparedDrill } from './prepare.ts';
export { runDrill, type DrillContext, type DrillEvent, type DrillRunOptions } from './run.ts';
export { renderMarkdown, overallOutcome, type DrillCleanup, type DrillEvidence, type DrillOutcome, type DrillReport, type DrillVmOutcome, type DrillVmReport } from './report.ts';
export { drillDir, drillsDir, listDrills, newDrillId, readDrill, type DrillSummary } from './store.ts';
