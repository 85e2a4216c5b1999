package app

import "github.com/google/uuid"

type uuidT = uuid.UUID
