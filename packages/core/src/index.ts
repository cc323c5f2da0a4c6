/**
 * `@keywarden/core`: the vault client behind every Keywarden front door.
 *
 * This root is runtime-neutral (Node, Deno, edge): it imports no Node built-in, and each store
 * is loaded only when configuration picks it. Node-only pieces (the embedded store, migrations
 * read from disk) live at `@keywarden/core/node`.
 * @module
 */
export type {
  AuditBufferStats,
  AuditEvent,
} from './audit/index.ts'
export type { SecretCacheStats } from './cache/index.ts'
export {
  type ChildEnvironment,
  vaultAccessReason,
  withoutVaultAccess,
} from './child-env/index.ts'
export {
  clearSecretCache,
  closeDefaultVaultClient,
  getDefaultVaultClient,
  getSecret,
  getSecrets,
} from './client/default.ts'
export {
  type AccessEvent,
  createVaultClient,
  environmentVariableFor,
  runtimeEnvironment,
  type SecretResult,
  type SecretSource,
  type SecretVerifier,
  type StoreOutcome,
  type VaultClient,
  type VaultClientOptions,
  type VaultHealth,
  type VerificationResult,
} from './client/index.ts'
export {
  describeDatabaseUrl,
  type Environment,
  openStore,
  resolveStoreConfig,
  type StoreConfig,
} from './config/index.ts'
export {
  EXIT_CODES,
  errorFromDatabase,
  isKeywardenError,
  KeywardenError,
  type KeywardenErrorCode,
  type KeywardenErrorOptions,
  MAX_SECRET_VALUE_BYTES,
  SECRET_LIMITS,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  validateSecretMetadata,
  validateSecretName,
  validateSecretValue,
} from './errors/index.ts'
export {
  accessorsOf,
  buildIncidentReport,
  type IncidentAccessor,
  type IncidentReport,
  type IncidentReportOptions,
  incidentMessage,
  MAX_AUDIT_ROWS,
  type RevocationStep,
  revocationStep,
} from './incident/index.ts'
export {
  LATEST_SCHEMA_VERSION,
  type Migration,
  type MigrationReport,
  parseMigration,
  runMigrations,
  type SqlConnection,
  splitStatements,
} from './migrate/index.ts'
export {
  alertMessage,
  createWebhookNotifier,
  reminderMessage,
  type WebhookDelivery,
  type WebhookMessage,
  type WebhookNotifier,
  type WebhookOptions,
} from './notify/index.ts'
export {
  type AccessDecision,
  allowCommand,
  CLI_DOOR,
  DOOR_RIGHTS,
  type DoorAction,
  type DoorClient,
  type DoorOptions,
  type DoorRights,
  decideAccess,
  defaultRights,
  EDGE_DOOR,
  isAgentDoor,
  isKeywardenCredential,
  KEYWARDEN_CREDENTIALS,
  matchesPattern,
  restrictToDoor,
  rightsFor,
  ruleFor,
  UI_DOOR,
} from './policy/index.ts'
export {
  compileRedaction,
  createRedactor,
  createStreamRedactor,
  DEFAULT_MIN_REDACT_LENGTH,
  type NamedSecret,
  type Redaction,
  type RedactOptions,
  type Redactor,
  redact,
  type SecretsToRedact,
  type StreamRedactor,
} from './redact/index.ts'
export {
  ALERT_KIND,
  type AlertNotificationOptions,
  type AlertNotificationResult,
  type GitHubVerifierOptions,
  notifyNewAlerts,
  REMINDER_KIND,
  type RotationCheckOptions,
  type RotationCheckResult,
  runRotationCheck,
  verifierForType,
  verifyGitHubToken,
} from './rotation/index.ts'
export type {
  AccessorSummary,
  ActivityBucket,
  ActivityFilter,
  ActivityGroup,
  ActivityPoint,
  AuditRange,
  FailureGroup,
  IncidentRun,
  SecretRangeFilter,
  ValueChange,
} from './store/dashboard.ts'
export {
  type AlertFilter,
  type AlertKind,
  type AuditAnchor,
  type AuditChainBreak,
  type AuditFilter,
  type AuditRecord,
  type AuditVerification,
  type DoorPolicyRule,
  type ExpiringSecret,
  type NotificationClaim,
  type RiskLevel,
  type RotationResult,
  SECRET_TYPES,
  type SecretAlert,
  type SecretMetadata,
  type SecretMetric,
  type SecretStore,
  type SecretType,
  type Severity,
  type StoredDoorPolicyRule,
  type StoredSecret,
  type StoreKind,
  type StoreSecretInput,
} from './store/index.ts'
export {
  type AuditRecordJson,
  auditRecordJson,
  boundedUntrustedText,
  type ExpiringSecretJson,
  expiringSecretJson,
  metadataPatchInput,
  type SecretAlertJson,
  type SecretMetadataJson,
  type SecretMetadataPatchJson,
  type SecretMetricJson,
  secretAlertJson,
  secretMetadataJson,
  secretMetricJson,
  UNTRUSTED_TEXT_MAX,
} from './wire/index.ts'
