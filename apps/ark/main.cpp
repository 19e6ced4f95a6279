// `ark`: the command-line entry point. Every command's failure is printed as one line on stderr
// ("ark <command>: <what went wrong>") and mapped to the exit-code table in cli.h.
#include <iostream>

#include "ark/core/error.h"
#include "ark/pretrained/download.h"
#include "cli.h"

int main(int argc, char** argv) {
  CLI::App app{"ark: a C++ model zoo and transfer-learning suite", "ark"};
  app.footer(ark::cli::kExitCodeHelp);
  app.require_subcommand(1);
  ark::cli::add_inspect(app);
  ark::cli::add_convert(app);
  ark::cli::add_tokenize(app);
  ark::cli::add_list(app);
  ark::cli::add_info(app);
  ark::cli::add_pull(app);
  ark::cli::add_cache(app);
  ark::cli::add_generate(app);
  ark::cli::add_finetune(app);
  ark::cli::add_predict(app);
  ark::cli::add_eval(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the usage message on stderr
    return ark::cli::kUsage;
  } catch (const ark::cli::CommandError& e) {
    std::cerr << "ark: " << e.what() << "\n";
    return e.code();
  } catch (const ark::pretrained::DownloadError& e) {
    std::cerr << "ark: " << e.msg() << "\n";
    return ark::pretrained::exit_code(e.kind());
  } catch (const ark::Error& e) {
    std::cerr << "ark: " << e.msg() << "\n";
    return ark::cli::kBadFile;
  } catch (const std::exception& e) {
    std::cerr << "ark: " << e.what() << "\n";
    return ark::cli::kFailure;
  }
  return ark::cli::kOk;
}
