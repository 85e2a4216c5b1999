package resident

// BulkLoad is bulkLoad, for the seed's tests.
var BulkLoad = bulkLoad
