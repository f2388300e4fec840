#ifndef CREDVAULT_SERVER_CONFIG_ENVIRONMENT_H_
#define CREDVAULT_SERVER_CONFIG_ENVIRONMENT_H_

#include <map>
#include <optional>
#include <string>

#include "server/config/config_secret.h"

namespace credvault::server {

// Where configuration secrets come from: the configuration file names environment
// variables (`password_env: CREDVAULT_DB_WRITER_PASSWORD`) instead of holding secrets, so
// the file can live in a ConfigMap or a repository and the secrets in a Kubernetes Secret.
// Injected so that tests need not touch the process environment.
class Environment {
 public:
  virtual ~Environment() = default;

  // The value of variable `name`; nullopt when it is unset or empty (an empty password is
  // a mistake far more often than a choice).
  virtual std::optional<ConfigSecret> Get(const std::string& name) const = 0;
};

// The process environment (getenv). Read only during start-up, before threads exist.
class ProcessEnvironment final : public Environment {
 public:
  std::optional<ConfigSecret> Get(const std::string& name) const override;
};

// A fixed set of variables, for tests.
class MapEnvironment final : public Environment {
 public:
  MapEnvironment() = default;
  explicit MapEnvironment(std::map<std::string, std::string> variables)
      : variables_(std::move(variables)) {}

  void Set(const std::string& name, std::string value) { variables_[name] = std::move(value); }
  std::optional<ConfigSecret> Get(const std::string& name) const override;

 private:
  std::map<std::string, std::string> variables_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_ENVIRONMENT_H_
