//! The crate's `macro_rules!` macros, in one module that imports nothing: every module reaches
//! them by path (`use crate::macros::string_enum;`), and their expansions name what they need
//! (`Error`, `error::try_from_strict`) through `$crate`.

/// A fieldless enum whose values are strings on the wire: `ALL`, `as_str`, `Display` and a
/// `FromStr` whose error is [`Error::InvalidAttribute`](crate::Error::InvalidAttribute) for
/// `$attr` of `<$element/>`, citing `$rule`.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $element:literal, $attr:literal, $rule:expr, { $($(#[$vm:meta])* $variant:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $variant),*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value as written on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> Result<Self, $crate::Error> {
                match s {
                    $($s => Ok($name::$variant),)*
                    _ => Err($crate::Error::invalid($element, $attr, s, $rule)),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// `TryFrom<Element>` (the strict reading) and `From<T> for Element` for a type that has
/// `FromXml` and `From<&T> for Element`.
macro_rules! impl_try_from {
    ($t:ty) => {
        impl TryFrom<minidom::Element> for $t {
            type Error = $crate::Error;
            /// The strict reading; use [`FromXml::read`](crate::FromXml::read) with
            /// [`Reading::Lenient`](crate::Reading::Lenient) for what deployed clients send.
            fn try_from(el: minidom::Element) -> Result<Self, $crate::Error> {
                $crate::error::try_from_strict(el)
            }
        }

        impl From<$t> for minidom::Element {
            fn from(v: $t) -> minidom::Element {
                minidom::Element::from(&v)
            }
        }
    };
}
pub(crate) use impl_try_from;
