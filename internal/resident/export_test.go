package resident

// BulkLoad is bulkLoad, for the seed's tests.
var BulkLoad = bulkLoad

// AddressTerms and AddressQueryTerms are the household address index's
// terms, for the fuzz target.
var AddressTerms, AddressQueryTerms, NormalAddress = addressTerms, queryTerms, normalAddress
