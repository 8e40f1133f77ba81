// Package pii keeps citizens' personal data (phone numbers, names, e-mail addresses)
// encrypted at rest with the national algorithms: SM4 in GCM mode for the values and a
// keyed SM3-HMAC blind index for finding a phone number exactly without decrypting.
//
// A Keyring holds the keys, read from a file or the environment and never from the
// database. Install puts it on a *gorm.DB as a plugin: fields tagged `gorm:"pii"` are
// sealed before every create and update and opened after every read, so the domain code
// keeps reading and writing plain strings; a field tagged `gorm:"blindindex:COLUMN"` is
// set to COLUMN's blind index on every write. Each sealed value names the key that sealed
// it ("sm4:ID:…"), so keys can be rotated: new values are sealed with the current key,
// old ones stay readable while their key is listed, and `rexian keys rotate` re-seals them.
//
// With no keys the plugin stores plain text (the embedded demo needs no set-up); a value
// sealed with a key that is not configured fails to read with an error naming the key.
package pii
