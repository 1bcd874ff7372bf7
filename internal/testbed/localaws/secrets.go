package localaws

import (
	"encoding/json"
	"fmt"

	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
)

// secretCredentials reads a registry credential secret the way ECS reads
// repositoryCredentials: JSON with username and password.
func secretCredentials(s *secretsim.Secrets, arn string) (string, string, error) {
	raw, err := s.SecretString(arn)
	if err != nil {
		return "", "", err
	}
	var v struct {
		Username    string `json:"username"`
		Password    string `json:"password"`
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return "", "", fmt.Errorf("secret %s: not a JSON credential: %w", arn, err)
	}
	if v.Password == "" {
		v.Password = v.AccessToken
	}
	return v.Username, v.Password, nil
}
