// The JSON the Tauri commands take and return, written from the Rust sources (serde attributes
// included). Every name here is the engine's: snake_case keys, snake_case enum values.
// Dates are ISO strings: `YYYY-MM-DD` for chrono::NaiveDate, RFC 3339 for DateTime<Utc>.

// --- Errors (ils-node engine/error.rs, ils-core validation.rs) ---

export interface FieldError {
  /** The field's path as the client sent it, e.g. `right.sphere` or `pd.binocular_distance`. */
  field: string;
  code: string;
  message: string;
}

export interface EngineErrorBody {
  code: string;
  message: string;
  /** Omitted by the engine when empty; the UI always fills it in. */
  fields?: FieldError[];
}

// --- Roles and users (ils-core access.rs, user.rs; ils-node store/practice.rs) ---

export type Role = "platform_admin" | "company_admin" | "ecp" | "lab_tech" | "engineer";
export const ROLES: Role[] = ["company_admin", "ecp", "lab_tech", "engineer", "platform_admin"];

export type UserStatus = "active" | "disabled";

export interface LocalUser {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
  role: Role;
  status: UserStatus;
  created_at: string;
}

export interface NewUser {
  email: string;
  first_name: string;
  last_name: string;
  role: Role;
}

export interface Practice {
  company_id: string;
  name: string;
  time_zone: string;
}

export interface NewPractice {
  name: string;
  /** An IANA time zone name; UTC when null. */
  time_zone: string | null;
  admin: NewUser;
}

export interface Created {
  practice: Practice;
  user: LocalUser;
}

// --- The app (src-tauri commands.rs, ils-node engine/mod.rs) ---

export interface EngineInfo {
  database: string;
  schema_version: number;
  device_id: string;
  practice: Practice | null;
  /** The signed-in user's e-mail, if any. */
  user: string | null;
}

export interface AppInfo {
  version: string;
  engine: EngineInfo;
  model_dir: string;
  model_present: boolean;
  idle_lock_minutes: number;
  /** How the window is drawn: "gpu (…)" or "software (why)". */
  rendering: string;
  /** The signed-in user with their role. */
  signed_in: LocalUser | null;
  /** What the signed-in user may do: ils-core's rules read out for the role. */
  abilities: Abilities | null;
}

// --- What a role may do (ils-core abilities.rs) ---

export interface OrderMove {
  from: OrderStatus;
  action: OrderAction;
  to: OrderStatus;
  permitted: boolean;
  needs_reason: boolean;
}

export interface RxStatusChange {
  from: RxStatus;
  to: RxStatus;
  permitted: boolean;
}

export interface Abilities {
  role: Role;
  permissions: string[];
  order_actions: OrderMove[];
  rx_status_changes: RxStatusChange[];
}

// --- Patients (ils-core patient.rs, record.rs, decide/patients.rs) ---

export interface PatientData {
  customer_number: string;
  first_name: string;
  last_name: string;
  date_of_birth: string;
  email: string | null;
  phone: string | null;
  address: string | null;
  notes: string | null;
}

/** Omitted field = unchanged; null clears email, phone, address or notes. */
export interface PatientChanges {
  customer_number?: string;
  first_name?: string;
  last_name?: string;
  date_of_birth?: string;
  email?: string | null;
  phone?: string | null;
  address?: string | null;
  notes?: string | null;
}

export interface PatientRecord {
  id: string;
  data: PatientData;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface PatientQuery {
  name_prefix?: string | null;
  customer_number?: string | null;
  date_of_birth?: string | null;
}

// --- Prescriptions (ils-core rx/mod.rs, rx/json.rs) ---

export type RxKind = "spectacle" | "contact_lens";
export type RxStatus = "draft" | "active" | "cancelled" | "entered_in_error";
export type PrismBase = "up" | "down" | "in" | "out";

export interface Prism {
  amount: number;
  base: PrismBase;
}

export interface EyeRx {
  sphere: number;
  cylinder: number | null;
  axis: number | null;
  add: number | null;
  prism_horizontal: Prism | null;
  prism_vertical: Prism | null;
  power: number | null;
  base_curve: number | null;
  diameter: number | null;
}

export interface PupillaryDistance {
  binocular_distance: number | null;
  binocular_near: number | null;
  right_distance: number | null;
  left_distance: number | null;
  right_near: number | null;
  left_near: number | null;
}

export interface ContactLensDetails {
  brand: string | null;
  wear_duration: string | null;
}

export interface RxData {
  kind: RxKind;
  status: RxStatus;
  right: EyeRx;
  left: EyeRx;
  pd: PupillaryDistance;
  segment_height: number | null;
  vertex_distance: number | null;
  issue_date: string;
  expiry_date: string | null;
  prescriber: string;
  notes: string | null;
  contact_lens: ContactLensDetails | null;
}

export interface PrescriptionRecord {
  id: string;
  patient_id: string;
  data: RxData;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

/** Each eye in the other cylinder convention; null for an eye whose values break a rule. */
export interface Transposed {
  right: EyeRx | null;
  left: EyeRx | null;
}

export interface RxCheck {
  /** Every problem by field path; empty when the prescription can be saved as it is. */
  errors: FieldError[];
  transposed: Transposed | null;
}

/**
 * A photo of a paper prescription read into a draft (ils-node assistant.rs `Captured`, the
 * draft from ils-core rx/capture.rs). Nothing is saved: a person checks the draft, corrects it,
 * and saves it through `add_prescription`.
 */
export interface Captured {
  /** The audit row's id for this capture. */
  capture_id: string;
  /**
   * The prescription as read, in the ILS form (what `toRxJson` sends): only the fields read.
   * No `status` and no `notes`; `kind`, `issue_date` or `prescriber` may be absent if unread.
   */
  prescription: Record<string, unknown>;
  /** Fields that could not be read, by path (`right.axis`, `pd.binocular_distance`): left empty. */
  unread: string[];
  /** Every rule the draft breaks, by field, as saving it would report. */
  problems: FieldError[];
  /** Whether the model's reply was a JSON object at all; when false nothing was read. */
  reply_readable: boolean;
  model: string;
  provider: string;
}

// --- Orders (ils-core order.rs, record.rs; ils-node store/orders.rs) ---

export type LensType = "single_vision" | "bifocal" | "trifocal" | "progressive";
export const LENS_TYPES: LensType[] = ["single_vision", "bifocal", "trifocal", "progressive"];

export type OrderStatus =
  | "draft"
  | "submitted"
  | "in_production"
  | "quality_check"
  | "shipped"
  | "delivered"
  | "cancelled"
  | "remade";

export const ORDER_STATUSES: OrderStatus[] = [
  "draft",
  "submitted",
  "in_production",
  "quality_check",
  "shipped",
  "delivered",
  "cancelled",
  "remade",
];

export type OrderAction =
  | "submit"
  | "start_production"
  | "send_to_quality_check"
  | "ship"
  | "deliver"
  | "cancel"
  | "remake";

export interface Frame {
  brand: string | null;
  model: string | null;
  colour: string | null;
  box_a: number | null;
  box_b: number | null;
  dbl: number | null;
  ed: number | null;
}

export interface Measurements {
  right_pd: number | null;
  left_pd: number | null;
  right_near_pd: number | null;
  left_near_pd: number | null;
  right_segment_height: number | null;
  left_segment_height: number | null;
  right_oc_height: number | null;
  left_oc_height: number | null;
}

export interface OrderData {
  patient_id: string;
  prescription_id: string;
  lens_type: LensType;
  material: string;
  coatings: string[];
  tint: string | null;
  frame: Frame;
  measurements: Measurements;
  promised_date: string | null;
  notes: string | null;
}

export interface OrderRecord {
  id: string;
  order_number: string;
  status: OrderStatus;
  remake_of: string | null;
  remake_reason: string | null;
  data: OrderData;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface OrderEventRecord {
  id: string;
  order_id: string;
  /** `create`, `create_remake` or an order action. */
  action: "create" | "create_remake" | OrderAction;
  from_status: OrderStatus | null;
  to_status: OrderStatus;
  note: string | null;
  actor: string | null;
  at: string;
}

/** Every field is optional (`#[serde(default)]`). */
/** The orders board (ils-node store/orders.rs `OrderBoard`). */
export interface OrderBoard {
  columns: BoardColumn[];
  overdue_total: number;
  per_column: number;
}

export interface BoardColumn {
  status: OrderStatus;
  /** All orders in this status (within the filter), shown or not. */
  total: number;
  /** The newest of them, at most `per_column`. */
  orders: BoardOrder[];
}

export interface BoardOrder {
  order: OrderRecord;
  overdue: boolean;
  /** Null for a role that may not read patients. */
  patient: PatientLabel | null;
}

export interface PatientLabel {
  id: string;
  customer_number: string;
  first_name: string;
  last_name: string;
}

export interface OrderFilter {
  status?: OrderStatus;
  patient?: string;
  overdue?: boolean;
  limit?: number;
}

export interface Transitioned {
  order: OrderRecord;
  remake: OrderRecord | null;
}

export interface PatientPage {
  patient: PatientRecord;
  prescriptions: PrescriptionRecord[];
  orders: OrderRecord[];
}

// --- Knowledge base (ils-node kb/mod.rs, kb/search.rs, engine/mod.rs) ---

export type IngestOutcome = "added" | "replaced" | "unchanged";

export interface Refused {
  file: string;
  code: string;
  message: string;
}

export interface Ingested {
  document_id: string;
  source: string;
  title: string;
  chunks: number;
  outcome: IngestOutcome;
}

export interface IngestReport {
  files: number;
  ingested: Ingested[];
  refused: Refused[];
  cancelled: boolean;
}

export type DocumentProgress =
  | { event: "started"; source: string; chunks: number }
  | { event: "embedded"; source: string; done: number; total: number }
  | { event: "finished"; source: string; outcome: IngestOutcome };

/** `IngestEvent` (engine/mod.rs), tagged with `event`; a document's progress keeps its own tag inside `progress`. */
export type IngestEvent =
  | { event: "found"; files: number }
  | { event: "file"; index: number; path: string }
  | ({ event: "refused" } & Refused)
  | { event: "document"; progress: DocumentProgress };

export interface KbDocument {
  id: string;
  source: string;
  title: string;
  format: string;
  byte_size: number;
  chunks: number;
  model: string;
  updated_at: string;
}

export interface Hit {
  chunk_id: number;
  document_id: string;
  source: string;
  title: string;
  heading: string;
  text: string;
  ordinal: number;
  byte_start: number;
  byte_end: number;
  score: number;
  cosine: number | null;
  vector_rank: number | null;
  keyword_rank: number | null;
}

// --- The assistant (ils-node assistant.rs, ils-llm, ils-ai retrieval.rs) ---

export interface Citation {
  number: number;
  chunk_id: string;
  document: string;
  excerpt: string;
}

export type Answerability =
  | { verdict: "answered" }
  | { verdict: "unknown_identifiers"; identifiers: string[] }
  | { verdict: "nothing_close" };

export type AnswerOutcome = "answered" | "truncated" | "cut" | "cancelled" | "offline" | "unreachable";

export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

export type AskEvent =
  | { event: "passages"; citations: Citation[]; answerability: Answerability }
  | { event: "delta"; text: string };

export interface Answer {
  conversation: string;
  text: string;
  citations: Citation[];
  answerability: Answerability;
  cited: number[];
  outcome: AnswerOutcome;
  model: string | null;
  usage: Usage | null;
  latency_ms: number;
}

export interface Conversation {
  id: string;
  title: string;
  created_by: string;
  created_at: string;
}

export type MessageRole = "user" | "assistant" | "system";

export interface Message {
  role: MessageRole;
  content: string;
  /** As stored: `{passages: [chunk ids], shown: [Citation], system_prompt_version, outcome}`
   * for answers (`shown` since 0.1: older answers name only the chunk ids). */
  citations: unknown;
  model: string | null;
  prompt_tokens: number | null;
  output_tokens: number | null;
  latency_ms: number | null;
}

export interface ConversationPage {
  conversation: Conversation;
  messages: Message[];
}

// --- Sync (ils-node store/sync.rs, store/mod.rs, engine/sync.rs, vault.rs) ---

export interface SyncState {
  server: string | null;
  domain: string | null;
  device: string;
  cursor: number;
  last_success: string | null;
  last_error: string | null;
  pending: number;
  rejected: number;
  conflicts: number;
  /** Unknown (null) until this program syncs once. */
  online: boolean | null;
  retry_at: string | null;
  session_kept: "keychain" | "encrypted_file" | null;
}

export interface OutboxRow {
  seq: number;
  change_id: string;
  entity: string;
  entity_id: string;
  operation: string;
  /** Hybrid logical clock stamp: `<wall ms, 12 hex>-<counter, 8 hex>-<device, 16 hex>`. */
  hlc: string;
  change: string;
}

export interface RejectedChange {
  change_id: string;
  entity: string;
  entity_id: string;
  operation: string;
  code: string;
  message: string;
  rejected_at: string;
}

export interface LocalConflict {
  id: string;
  entity: string;
  entity_id: string;
  lost_change_id: string;
  lost: unknown;
  won_change_id: string;
  reason: string;
  recorded_at: string;
}

export type Resolution = "kept" | "restored";

export interface ConnectRequest {
  server: string;
  domain: string;
  email: string;
  password: string;
  device_name: string;
  code: string | null;
}

// --- Activity and settings (ils-node store/audit.rs, ils-core tenant.rs) ---

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  entity: string;
  entity_id: string | null;
  detail: unknown;
}

export interface AiConfig {
  system_prompt: string | null;
  temperature: number;
  max_tokens: number;
  enabled_models: string[];
  knowledge_base_enabled: boolean;
  redact_patient_data: boolean;
  prescription_capture: boolean;
  feature_flags: Record<string, boolean>;
}

export interface AiSettings {
  config: AiConfig;
  version: number;
}
