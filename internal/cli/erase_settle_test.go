package cli

// The erase tests purge once unless a case asks for the second purge
// (--settle, TestEraseRemovesWhatWasStoredAsItBegan): ten seconds more
// for each erasure would only slow them.
func init() { eraseSettle = 0 }
