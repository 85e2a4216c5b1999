package resident

// How other domains read the registry. They never name the residents table:
// they read the resident_facts view (migration 00071: id, community_id,
// grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on
// and living, the one definition of a living resident) in their own SQL, and
// for the two look-ups by a blind index, which the view leaves out, they
// embed the statements below. So the table can change behind one package,
// and TestOnlyResidentReadsTheRegistry keeps it that way.

// ByPhoneIndexSQL selects id and org_path of at most two residents whose
// phone has the blind index given by the SQL expression bidx (a
// placeholder such as "$1"): two, so that a caller can tell one match from
// several.
func ByPhoneIndexSQL(bidx string) string {
	return "SELECT id, org_path FROM residents WHERE phone_bidx = " + bidx + " LIMIT 2"
}

// IDNumberIndexSQL is a scalar subquery giving the blind index of the ID
// number of the resident whose id the SQL expression id gives (for
// checking a document that embeds the holder's ID number).
func IDNumberIndexSQL(id string) string {
	return "(SELECT id_number_bidx FROM residents WHERE residents.id = " + id + ")"
}

// PhoneMaskedSQL selects the masked phone (or NULL) of the resident whose
// id the SQL expression id gives: where a home-care visit code is texted,
// shown to the worker who asked for it.
func PhoneMaskedSQL(id string) string {
	return "SELECT phone_masked FROM residents WHERE id = " + id
}

// VisitSheetSQL selects what a home-care worker is shown of the residents
// whose ids the SQL expression ids gives (a placeholder bound to a uuid
// array): id, name, the masked ID number and phone, the address, the birth
// date (for the age) and the org path (for the reviewer's jurisdiction).
// Only masked numbers: the sheet is for a provider's staff, and the masks
// (region only; the last digits) rebuild no number with the rest.
func VisitSheetSQL(ids string) string {
	return "SELECT id, name, id_number_masked, phone_masked, address, birth_date, org_path FROM residents WHERE id = ANY(" + ids + ")"
}

// StatusesOnSQL is the statuses the resident of the resident_facts row
// alias held on the day the SQL expression on gives (used twice): their
// own and their household's. For a resident whose facts have not changed
// since that day (facts_since, migration 00160) that is the current
// columns, read with the row; only the few whose facts changed after it
// read the history (resident_statuses_on), so issuing a period for a
// district costs what it cost before history existed.
func StatusesOnSQL(alias, on string) string {
	return "(CASE WHEN " + alias + ".facts_since IS NULL OR " + alias + ".facts_since <= " + on +
		" THEN " + alias + ".statuses || " + alias + ".household_statuses ELSE resident_statuses_on(" + alias + ".id, " + on + ") END)"
}

// CareLevelOnSQL is the care level the resident of the resident_facts row
// alias held on the day on gives (used twice), like StatusesOnSQL.
func CareLevelOnSQL(alias, on string) string {
	return "(CASE WHEN " + alias + ".facts_since IS NULL OR " + alias + ".facts_since <= " + on +
		" THEN " + alias + ".care_level ELSE resident_care_level_on(" + alias + ".id, " + on + ") END)"
}

// CurrentStatusesSQL is the statuses the resident of the resident_facts
// row alias holds today: their own and their household's.
func CurrentStatusesSQL(alias string) string {
	return "(" + alias + ".statuses || " + alias + ".household_statuses)"
}
