package ingest_test

import "github.com/kycflow/kycflow/internal/config"

func secret(v string) config.Secret { return config.NewSecret(v) }
