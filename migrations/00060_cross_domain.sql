-- Foreign keys between domains that were built side by side: a disability
-- service may be assigned to a provider, a catalog item may enroll its
-- applicants in a voucher program.

-- +goose Up
ALTER TABLE disability_services
  ADD CONSTRAINT disability_services_provider_fk FOREIGN KEY (provider_id) REFERENCES providers (id);
ALTER TABLE service_items
  ADD CONSTRAINT service_items_voucher_program_fk FOREIGN KEY (voucher_program_id) REFERENCES voucher_programs (id);

-- +goose Down
ALTER TABLE service_items DROP CONSTRAINT service_items_voucher_program_fk;
ALTER TABLE disability_services DROP CONSTRAINT disability_services_provider_fk;
