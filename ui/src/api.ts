// Typed wrappers over the window's Tauri commands (src-tauri/src/commands.rs). Argument keys are
// the Rust parameters' snake_case names; every rejection becomes an `ApiError` with a stable code.

import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  AiConfig,
  AiSettings,
  Answer,
  AppInfo,
  AskEvent,
  AuditEntry,
  Captured,
  ConnectRequest,
  Conversation,
  ConversationPage,
  Created,
  FieldError,
  Hit,
  IngestEvent,
  IngestReport,
  KbDocument,
  LocalConflict,
  LocalUser,
  NewPractice,
  NewUser,
  OrderAction,
  OrderEventRecord,
  OrderBoard,
  OrderFilter,
  OrderRecord,
  OutboxRow,
  PatientChanges,
  PatientPage,
  PatientQuery,
  PatientRecord,
  PrescriptionRecord,
  RejectedChange,
  Resolution,
  RxCheck,
  RxStatus,
  SyncState,
  Transitioned,
} from "./types";

/** An engine error as the window handles it: always with a code and a (possibly empty) field list. */
export class ApiError extends Error {
  readonly code: string;
  readonly fields: FieldError[];

  constructor(code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.fields = fields;
  }
}

function isFieldError(value: unknown): value is FieldError {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.field === "string" && typeof v.code === "string" && typeof v.message === "string";
}

/**
 * Any rejection of `invoke` as an `ApiError`: the engine's `{code, message, fields?}` as it is;
 * a plain string (Tauri could not read the arguments) as `ipc.invalid_arguments`; anything else
 * (no Tauri at all, a bug) with a code that says so.
 */
export function normaliseError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (typeof error === "string") return new ApiError("ipc.invalid_arguments", error);
  if (typeof error === "object" && error !== null) {
    const e = error as Record<string, unknown>;
    if (typeof e.code === "string" && typeof e.message === "string") {
      const fields = Array.isArray(e.fields) ? e.fields.filter(isFieldError) : [];
      return new ApiError(e.code, e.message, fields);
    }
    if (error instanceof Error) return new ApiError("ipc.unavailable", error.message);
  }
  return new ApiError("internal", String(error));
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw normaliseError(error);
  }
}

// --- The app and the practice ---

export const appInfo = () => call<AppInfo>("app_info");
export const setIdleLock = (minutes: number) => call<number>("set_idle_lock", { minutes });
export const createPractice = (input: NewPractice) => call<Created>("create_practice", { input });
export const users = () => call<LocalUser[]>("users");
export const addUser = (input: NewUser) => call<LocalUser>("add_user", { input });
export const signIn = (email: string) => call<LocalUser>("sign_in", { email });
export const signInWithPassword = (email: string, password: string) =>
  call<LocalUser>("sign_in_with_password", { email, password });
export const signOut = () => call<null>("sign_out");

// --- Patients ---

export const searchPatients = (query: PatientQuery, limit?: number, offset?: number) =>
  call<PatientRecord[]>("search_patients", { query, limit, offset });
/** The patient as typed: the engine reads it and names every problem by its field. */
export const addPatient = (input: Record<string, unknown>) =>
  call<PatientRecord>("add_patient", { input });
export const updatePatient = (id: string, changes: PatientChanges) =>
  call<PatientRecord>("update_patient", { id, changes });
export const patientPage = (id: string) => call<PatientPage>("patient_page", { id });

// --- Prescriptions ---

export const checkPrescription = (input: Record<string, unknown>) =>
  call<RxCheck>("check_prescription", { input });
export const addPrescription = (patientId: string, input: Record<string, unknown>) =>
  call<PrescriptionRecord>("add_prescription", { patient_id: patientId, input });
export const setPrescriptionStatus = (id: string, status: RxStatus) =>
  call<PrescriptionRecord>("set_prescription_status", { id, status });
/**
 * Reads the photo of a paper prescription at `path` (an absolute path to a JPEG, PNG or WebP
 * file) with the practice's vision model into a draft. Nothing is saved.
 */
export const capturePrescription = (path: string) => call<Captured>("capture_prescription", { path });
export const prescriptionFhir = (id: string) => call<unknown>("prescription_fhir", { id });

// --- Orders ---

export const createOrder = (input: Record<string, unknown>) =>
  call<OrderRecord>("create_order", { input });
export const transitionOrder = (id: string, action: OrderAction, note: string | null) =>
  call<Transitioned>("transition_order", { id, action, note });
export const orders = (filter: OrderFilter) => call<OrderRecord[]>("orders", { filter });
export const orderBoard = (perColumn: number, overdueOnly: boolean) =>
  call<OrderBoard>("order_board", { per_column: perColumn, overdue_only: overdueOnly });
export const orderTimeline = (id: string) => call<OrderEventRecord[]>("order_timeline", { id });
export const orderDcs = (id: string) => call<string>("order_dcs", { id });

// --- Knowledge base ---

export function ingest(paths: string[], onEvent: (event: IngestEvent) => void) {
  const channel = new Channel<IngestEvent>();
  channel.onmessage = onEvent;
  return call<IngestReport>("ingest", { paths, on_event: channel });
}
export const cancelIngest = () => call<boolean>("cancel_ingest");
export const searchDocuments = (query: string, limit?: number) =>
  call<Hit[]>("search_documents", { query, limit });
export const documents = () => call<KbDocument[]>("documents");
export const deleteDocument = (id: string) => call<KbDocument>("delete_document", { id });

// --- The assistant ---

export function ask(
  question: string,
  conversation: string | null,
  offline: boolean,
  onEvent: (event: AskEvent) => void,
) {
  const channel = new Channel<AskEvent>();
  channel.onmessage = onEvent;
  return call<Answer>("ask", { question, conversation, offline, on_event: channel });
}
export const stopAnswer = () => call<boolean>("stop_answer");
export const conversations = () => call<Conversation[]>("conversations");
export const conversation = (id: string) => call<ConversationPage>("conversation", { id });

// --- Sync ---

export const syncState = () => call<SyncState>("sync_state");
export const syncNow = () => call<null>("sync_now");
export const pendingChanges = () => call<OutboxRow[]>("pending_changes");
export const syncRejected = () => call<RejectedChange[]>("sync_rejected");
export const syncConflicts = () => call<LocalConflict[]>("sync_conflicts");
export const resolveConflict = (id: string, resolution: Resolution) =>
  call<null>("resolve_conflict", { id, resolution });
export const connect = (request: ConnectRequest) => call<SyncState>("connect", { request });

// --- Activity and settings ---

export const auditEntries = (entityId: string | null, limit?: number) =>
  call<AuditEntry[]>("audit_entries", { entity_id: entityId, limit });
export const aiConfig = () => call<AiSettings>("ai_config");
export const setAiConfig = (config: AiConfig) => call<number>("set_ai_config", { config });

/**
 * The patient list first showed rows (timed under `make bench-desktop`; otherwise a no-op). The
 * start's steps go with it: the page's own timings and the marks the code set
 * (`performance.mark`), each as Unix time in milliseconds.
 */
export const benchReady = () => {
  const origin = performance.timeOrigin;
  const steps: { name: string; at: number }[] = performance
    .getEntriesByType("mark")
    .map((m) => ({ name: m.name, at: origin + m.startTime }));
  const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
  if (nav) {
    steps.push(
      { name: "document received", at: origin + nav.responseEnd },
      { name: "document parsed", at: origin + nav.domInteractive },
    );
  }
  return call<null>("bench_ready", { steps });
};
