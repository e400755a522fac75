/**
 * petra's search core, for any problem: the search-space contract, parameter specs, NSGA-II / SPEA2 selection,
 * indicators, early stopping, the ask/tell study with its schedules, and its storages. Pure TypeScript; nothing here
 * touches the native addon or knows what a genome is. The pipeline genome and its space are in lib/genome.
 */
export { Rng, type Seed } from './rng.js';
export type { ConstraintDef, Direction, ExportedParam, ObjectiveDef, SearchSpace } from './space.js';
export { RealVectorSpace, type RealSpaceOptions } from './real-space.js';

// Declarative hyperparameter specs (the pipeline genome's stage parameters are these)
export { defaultParam, mutateParam, sampleParam, type ParamSpec, type ParamValue } from './params.js';

// Ranking, selection, indicators
export {
  constrainedDominates,
  constrainedNonDominatedSort,
  crowdingDistance,
  dominates,
  nonDominatedRanks,
  nonDominatedSort,
  sortFlat,
  type Point,
} from './dominance.js';
export type { Candidate, Selector } from './selection.js';
export { nsga2, rankAndCrowding } from './nsga2.js';
export { spea2, spea2Fitness } from './spea2.js';
export { hypervolume, igd, igdPlus } from './indicators.js';
export { objectiveValues, toMinimization, totalViolation, type Values } from './objective-values.js';

// Early stopping
export {
  anySearchStopper,
  anyTrainingStopper,
  candidateStopper,
  evaluationBudgetStopper,
  lossSlopeStopper,
  noImprovementStopper,
  patienceStopper,
  timeBudgetStopper,
  type CandidateStopper,
  type CandidateStopperOptions,
  type EpochRecord,
  type LossSlopeOptions,
  type PatienceOptions,
  type SearchProgress,
  type SearchStopper,
  type StopDecision,
  type TrainingStopper,
} from './stopping.js';

// Study and storage
export {
  Study,
  type EvaluationContext,
  type EvaluationResult,
  type Evaluator,
  type FrontMember,
  type OptimizeBudget,
  type OptimizeResult,
  type Schedule,
  type StudyEvents,
  type StudyOptions,
  type Trial,
} from './study.js';
export {
  InMemoryStorage,
  type IntermediateReport,
  type NewTrial,
  type Storage,
  type StudyInfo,
  type StudyRecord,
  type TrialOutcome,
  type TrialRecord,
  type TrialState,
} from './storage.js';

// Benchmark problems
export { bnh, dtlz2, srn, zdt1, zdt2, zdt3, type TestProblem } from './problems.js';
export { SqliteStorage } from './sqlite-storage.js';
export { exportOptunaJournal } from './optuna-export.js';
