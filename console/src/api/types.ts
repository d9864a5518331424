// The API's types, by name, from the OpenAPI document the router generates (`npm run gen:api`
// against a running API writes schema.d.ts; the end-to-end test checks it is current).
import type { components } from "./schema";

type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type FieldError = Schemas["FieldError"];
export type TenantWorkspace = Schemas["TenantWorkspace"];
export type TenantListPage = Schemas["TenantListPage"];
export type TenantRequest = Schemas["TenantRequest"];
export type TenantStatus = Schemas["TenantStatus"];
export type TemplateVariables = Schemas["TemplateVariables"];
export type VariableSpec = Schemas["VariableSpec"];
export type VariableType = Schemas["VariableType"];
export type Preview = Schemas["Preview"];
export type PreviewRequest = Schemas["PreviewRequest"];
export type TestSendRequest = Schemas["TestSendRequest"];
export type TestSent = Schemas["TestSent"];
export type NewCampaign = Schemas["NewCampaign"];
export type SegmentRule = Schemas["SegmentRule"];
export type CampaignView = Schemas["CampaignView"];
export type CampaignPage = Schemas["CampaignPage"];
export type CampaignState = Schemas["CampaignState"];
export type CampaignStats = Schemas["CampaignStats"];
export type LaunchAccepted = Schemas["LaunchAccepted"];
export type Suppression = Schemas["Suppression"];
export type SuppressionListPage = Schemas["SuppressionListPage"];
export type ImportReport = Schemas["ImportReport"];
export type UploadTarget = Schemas["UploadTarget"];
export type AudienceCheck = Schemas["AudienceCheck"];
export type AudienceSample = Schemas["AudienceSample"];
export type SnippetSummary = Schemas["SnippetSummary"];
export type SnippetDetail = Schemas["SnippetDetail"];
export type LibrarySnippetSummary = Schemas["LibrarySnippetSummary"];
export type LibrarySnippetDetail = Schemas["LibrarySnippetDetail"];
export type TenantPatch = Schemas["TenantPatch"];
