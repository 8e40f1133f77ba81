package auth

import (
	"context"
	"fmt"
)

// UsersNamed returns the users with these usernames (unknown ones are left out): the
// consoles show a timeline's actors by their display names and units.
func (s *Service) UsersNamed(ctx context.Context, usernames []string) ([]User, error) {
	if len(usernames) == 0 {
		return nil, nil
	}
	var us []User
	err := s.db.WithContext(ctx).Select("id", "username", "display_name", "role", "department_id").
		Where("username IN ?", usernames).Find(&us).Error
	if err != nil {
		return nil, fmt.Errorf("auth: users named %v: %w", usernames, err)
	}
	return us, nil
}
