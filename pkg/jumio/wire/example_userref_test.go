package wire_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Sign a user reference when initiating a transaction, and verify it when
// Jumio echoes it in the callback.
func ExampleSignUserReference() {
	secret := []byte("a secret from KYCFLOW_INGEST_USER_REFERENCE_SECRETS")
	initiated := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)

	token, err := wire.SignUserReference(secret, "usr_7f3a9c", initiated)
	if err != nil {
		panic(err)
	}
	fmt.Println(token)

	ref, err := wire.VerifyUserReference(token, [][]byte{secret}, 24*time.Hour, initiated.Add(time.Hour))
	fmt.Println(ref, err)

	_, err = wire.VerifyUserReference(token, [][]byte{secret}, 24*time.Hour, initiated.Add(48*time.Hour))
	fmt.Println(errors.Is(err, wire.ErrUserReferenceExpired))
	// Output:
	// u=usr_7f3a9c,t=1710410400,v1=827a54455cc2704a9f2113dfbcc786f444422af3f49bec978d53475ca962af0b
	// usr_7f3a9c <nil>
	// true
}
