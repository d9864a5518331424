# The reference side of `cargo bench -p storecast --bench liquid_reference`: Shopify's Liquid
# (Debian's ruby-liquid with ruby-liquid-c) renders the standard templates for the recipients
# the bench wrote, with the same data delivery renders from. Run with `ruby --yjit`.
#
# Usage: ruby --yjit liquid_reference.rb INPUT.json OUTPUT.json
#   INPUT: { "min_cpu_seconds": f, "brand": {...}, "recipients": [ctx, ...],
#            "templates": [{ "id", "parts": {part: source}, "snippets": {name: source},
#                            "vars": {...} }] }
#   OUTPUT: { "ruby": version, "liquid": version, "liquid_c": version, "yjit": bool,
#             "templates": [{ "id", "recipients_per_cpu_second", "renders",
#                             "outputs": [{part: text}, ...] }] }
require "json"
require "time"
require "liquid"
require "liquid/c"

# Storecast's own `price` filter (shared/src/render/price_filter.rs), as documented in
# docs/liquid-dialect.md: major units, two decimals (none for JPY), thousands separators, a
# symbol for USD, EUR, GBP and JPY and the code after the amount otherwise.
module StorecastFilters
  SYMBOLS = { "USD" => ["$", 2], "EUR" => ["€", 2], "GBP" => ["£", 2], "JPY" => ["¥", 0] }.freeze

  def price(input, currency = nil)
    amount = case input
             when Numeric then input.to_f
             when String then Float(input, exception: false)
             end
    return input if amount.nil?
    code = currency.to_s.strip
    symbol, decimals = SYMBOLS[code.upcase] || [nil, 2]
    scale = decimals.zero? ? 1 : 100
    minor = (amount.abs * scale).round
    whole, fraction = decimals.zero? ? [minor, 0] : minor.divmod(100)
    out = +""
    out << "-" if amount.negative? && minor != 0
    out << symbol if symbol
    out << whole.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
    out << format(".%02d", fraction) if decimals.positive?
    out << " " << code if symbol.nil? && !code.empty?
    out
  end
end
Liquid::Template.register_filter(StorecastFilters)

# Snippets by name, as `render` and `include` read them.
class Snippets
  def initialize(sources)
    @sources = sources
  end

  def read_template_file(name)
    @sources.fetch(name) { raise Liquid::FileSystemError, "no snippet #{name}" }
  end
end

def cpu_seconds
  Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
end

# Offer dates are typed on our side (parsed when the event is read): times here too.
def with_times(recipient)
  recipient.merge("offers" => recipient["offers"].map do |offer|
    offer["valid_until"] ? offer.merge("valid_until" => Time.iso8601(offer["valid_until"])) : offer
  end)
end

input = JSON.parse(File.read(ARGV.fetch(0)))
recipients = input["recipients"].map { |r| with_times(r) }
min_cpu = input.fetch("min_cpu_seconds", 1.0)
results = input["templates"].map do |template|
  parts = template["parts"].transform_values { |source| Liquid::Template.parse(source) }
  # Parsed snippets are kept across renders, as parsed templates are.
  registers = { file_system: Snippets.new(template["snippets"]), cached_partials: {} }
  globals = { "vars" => template["vars"], "brand" => input["brand"] }
  render = lambda do |recipient|
    parts.transform_values do |part|
      context = Liquid::Context.build(environments: [recipient], static_environments: [globals],
                                      registers: registers)
      part.render(context)
    end
  end
  outputs = recipients.map(&render)
  renders = 0
  started = cpu_seconds
  while cpu_seconds - started < min_cpu
    recipients.each(&render)
    renders += recipients.size
  end
  elapsed = cpu_seconds - started
  { "id" => template["id"], "renders" => renders,
    "recipients_per_cpu_second" => renders / elapsed, "outputs" => outputs }
end
File.write(ARGV.fetch(1), JSON.generate(
  "ruby" => RUBY_VERSION, "liquid" => Liquid::VERSION, "liquid_c" => Liquid::C::VERSION,
  "yjit" => defined?(RubyVM::YJIT) && RubyVM::YJIT.enabled? ? true : false,
  "templates" => results
))
