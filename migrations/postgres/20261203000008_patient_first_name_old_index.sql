-- The first-name index that patients_first_name_keys (the previous migration) replaces.
DROP INDEX IF EXISTS patients_first_name;
