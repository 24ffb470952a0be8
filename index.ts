/**
 * budgetml: put a machine-learning model behind a secured HTTPS API on a Google Cloud spot VM
 * that comes back after every preemption.
 *
 * @packageDocumentation
 */

export type {
  Payload,
  PredictRequest,
  PredictResult,
  Predictor,
  PredictorClass,
  UploadFile,
} from "./runtime/predictor/predictor";
export { BudgetModel, type BudgetModelArgs } from "./components/budgetModel";
export type { Accelerator } from "./components/acceleratorArgs";
export type { Replicas } from "./components/replicas/replicasArgs";
export type { Provisioning } from "./contracts/scheduling";
export type { CostEstimate } from "./components/pricing";
export type { DnsRecord } from "./components/network";
export { launchLocal, type LocalDeployment, type LocalOptions } from "./local/launchLocal";
