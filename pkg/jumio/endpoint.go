package jumio

// Endpoint names one Jumio API operation. The client uses it for span
// names, metric attributes and error strings, and jumiotest counts requests
// by it. Endpoint names never hold ids, so they are safe in telemetry;
// renaming one changes metric series.
type Endpoint string

// Jumio API operations.
const (
	EndpointToken                 Endpoint = "token"
	EndpointAccountCreate         Endpoint = "account.create"
	EndpointAccountUpdate         Endpoint = "account.update"
	EndpointWorkflowStatus        Endpoint = "platform.status"
	EndpointWorkflowDetails       Endpoint = "platform.details"
	EndpointSteps                 Endpoint = "platform.steps"
	EndpointCredentialPart        Endpoint = "platform.part"
	EndpointPartUpload            Endpoint = "api.upload"
	EndpointFinalize              Endpoint = "api.finalize"
	EndpointHealth                Endpoint = "status.health"
	EndpointNetverifyScan         Endpoint = "netverify.scan"
	EndpointNetverifyData         Endpoint = "netverify.data"
	EndpointNetverifyDocument     Endpoint = "netverify.document"
	EndpointNetverifyTransaction  Endpoint = "netverify.transaction"
	EndpointNetverifyVerification Endpoint = "netverify.verification"
	EndpointNetverifyImages       Endpoint = "netverify.images"
	EndpointNetverifyImage        Endpoint = "netverify.image"

	EndpointMigrationCreate               Endpoint = "migration.create"
	EndpointMigrationUpdate               Endpoint = "migration.update"
	EndpointAccountDelete                 Endpoint = "platform.account.delete"
	EndpointExecutionDelete               Endpoint = "platform.execution.delete"
	EndpointNetverifyScanDelete           Endpoint = "netverify.scan.delete"
	EndpointNetverifyAuthenticationDelete Endpoint = "netverify.authentication.delete"
)

// Endpoints lists every Endpoint.
var Endpoints = []Endpoint{
	EndpointToken, EndpointAccountCreate, EndpointAccountUpdate,
	EndpointWorkflowStatus, EndpointWorkflowDetails, EndpointSteps, EndpointCredentialPart,
	EndpointPartUpload, EndpointFinalize, EndpointHealth,
	EndpointNetverifyScan, EndpointNetverifyData, EndpointNetverifyDocument,
	EndpointNetverifyTransaction, EndpointNetverifyVerification,
	EndpointNetverifyImages, EndpointNetverifyImage,
	EndpointMigrationCreate, EndpointMigrationUpdate,
	EndpointAccountDelete, EndpointExecutionDelete, EndpointNetverifyScanDelete, EndpointNetverifyAuthenticationDelete,
}

// Retrieval and Account API paths. Ids are validated before they are put
// into a path (see ValidID), so a path never carries anything but ids.
const (
	// PathToken is the OAuth2 token endpoint on the auth host.
	PathToken = "/oauth2/token"
	// PathAccounts is the Account API collection on the account host.
	PathAccounts = "/api/v1/accounts"
	// PathNetverifyScans is the Netverify v2 scans collection on the
	// Netverify host.
	PathNetverifyScans = "/api/netverify/v2/scans"
	// PathNetverifyAuthentications is the Netverify v2 authentications
	// collection on the Netverify host.
	PathNetverifyAuthentications = "/api/netverify/v2/authentications"
	// PathMigrations is the data migration API's accounts collection on
	// the account host.
	PathMigrations = "/api/v1/migrations/accounts"
)
