package mapping

import (
	"encoding/json"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// identity is the identity document and its holder, as each source names
// them (docs/jumio.md 6.4: the Netverify callback, the Netverify retrieval
// document and Platform extraction data have the same fields under other
// names).
type identity struct {
	docType, subType, country, number, expiry, issuingDate, state string
	personalNumber, mrz1, mrz2, carPermission                     string
	firstName, lastName, dob, gender, nationality                 string
	originDob, currentAge                                         string
	address                                                       *wire.NetverifyAddress
	more                                                          wire.IdentityFields
	expiryParts, issuingParts, dobParts                           *wire.DateParts
}

// setIdentity fills Document and Person; each is absent when it would be
// empty.
func setIdentity(r *events.Result, x identity) {
	m := x.more
	d := events.Document{
		Type: word(x.docType), SubType: word(x.subType), IssuingCountry: word(x.country),
		Number: word(x.number), ExpiryDate: word(x.expiry), IssuingDate: word(x.issuingDate), State: word(x.state),
		PersonalNumber: word(x.personalNumber), OptionalMRZField1: word(x.mrz1), OptionalMRZField2: word(x.mrz2),
		IssuingAuthority: word(m.IssuingAuthority), IssuingPlace: word(m.IssuingPlace), IssuingNumber: word(m.IssuingNumber),
		PassportNumber: word(m.PassportNumber), DurationOfStay: word(m.DurationOfStay),
		NumberOfEntries: word(m.NumberOfEntries), VisaCategory: word(m.VisaCategory),
		DrivingLicenseCategories: dlCategories(m.DLCategories), CarPermission: word(x.carPermission),
		ExpiryDateParts: dateParts(x.expiryParts), IssuingDateParts: dateParts(x.issuingParts),
	}
	p := events.Person{
		FirstName: word(x.firstName), LastName: word(x.lastName), DateOfBirth: word(x.dob),
		Gender: word(x.gender), Nationality: word(x.nationality), Address: address(x.address),
		PlaceOfBirth: word(m.PlaceOfBirth), MothersName: word(m.MothersName), FathersName: word(m.FathersName),
		DNI: word(m.DNI), CURP: word(m.CURP), CPF: word(m.CPF), PESEL: word(m.PESEL), TaxNumber: word(m.TaxNumber),
		RegistrationNumber: word(m.RegistrationNumber), PersonalIdentificationNumber: word(m.PersonalIdentificationNumber),
		RGNumber: word(m.RGNumber), VoterIDNumber: word(m.VoterIDNumber),
		DateOfBirthParts: dateParts(x.dobParts), OriginalDateOfBirth: word(x.originDob), CurrentAge: word(x.currentAge),
	}
	r.Document, r.Person = nil, nil
	if !empty(d) {
		r.Document = &d
	}
	if !empty(p) {
		r.Person = &p
	}
}

// empty reports whether v encodes as an empty JSON object.
func empty(v any) bool {
	b, err := json.Marshal(v)
	return err == nil && string(b) == "{}"
}

func dlCategories(in []wire.DLCategory) []events.DrivingLicenseCategory {
	var out []events.DrivingLicenseCategory
	for _, c := range in {
		v := events.DrivingLicenseCategory{Category: word(c.Category), IssueDate: word(c.IssueDate), ExpiryDate: word(c.ExpiryDate),
			IsReadable: word(c.IsReadable), Availability: word(c.Availability)}
		if v != (events.DrivingLicenseCategory{}) {
			out = append(out, v)
		}
	}
	return out
}

func dateParts(p *wire.DateParts) *events.DateParts {
	if p == nil {
		return nil
	}
	v := events.DateParts{Year: word(p.Year), Month: word(p.Month), Day: word(p.Day)}
	if v == (events.DateParts{}) {
		return nil
	}
	return &v
}

// documentIdentity is the identity of a Netverify retrieval document.
func documentIdentity(doc wire.NetverifyDataDocument) identity {
	return identity{
		docType: string(doc.Type), subType: string(doc.IDSubtype), country: string(doc.IssuingCountry),
		number: string(doc.Number), expiry: string(doc.Expiry), issuingDate: string(doc.IssuingDate), state: string(doc.USState),
		personalNumber: string(doc.PersonalNumber), mrz1: string(doc.OptionalData1), mrz2: string(doc.OptionalData2),
		firstName: string(doc.FirstName), lastName: string(doc.LastName), dob: string(doc.Dob),
		gender: string(doc.Gender), nationality: string(doc.Nationality), address: doc.Address, more: doc.IdentityFields,
	}
}

// callbackIdentity is the identity of a Netverify ID-verification callback.
func callbackIdentity(cb *wire.NetverifyCallback) identity {
	return identity{
		docType: cb.IDType, subType: cb.IDSubtype, country: cb.IDCountry, number: cb.IDNumber, expiry: cb.IDExpiry,
		issuingDate: cb.IssuingDate, state: cb.IDUSState, personalNumber: cb.PersonalNumber,
		mrz1: cb.OptionalData1, mrz2: cb.OptionalData2, carPermission: cb.DLCarPermission,
		firstName: cb.IDFirstName, lastName: cb.IDLastName, dob: cb.IDDob, gender: cb.Gender, nationality: cb.Nationality,
		originDob: cb.OriginDob, address: cb.Address, more: cb.IdentityFields,
	}
}

// extractionIdentity is the identity of Platform extraction data.
func extractionIdentity(x wire.ExtractionData) identity {
	return identity{
		docType: string(x.Type), subType: string(x.SubType), country: string(x.IssuingCountry),
		number: string(x.DocumentNumber), expiry: string(x.ExpiryDate), issuingDate: string(x.IssuingDate), state: string(x.State),
		personalNumber: string(x.PersonalNumber), mrz1: string(x.OptionalMRZField1), mrz2: string(x.OptionalMRZField2),
		firstName: string(x.FirstName), lastName: string(x.LastName), dob: string(x.DateOfBirth),
		gender: string(x.Gender), nationality: string(x.Nationality), currentAge: string(x.CurrentAge),
		address: x.Address, more: x.IdentityFields,
		expiryParts: x.ExpiryDateParts, issuingParts: x.IssuingDateParts, dobParts: x.DateOfBirthParts,
	}
}
